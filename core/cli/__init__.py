"""The command lines: `resnet-classify` (`classify`) and `resnet-train` (`train`)."""
