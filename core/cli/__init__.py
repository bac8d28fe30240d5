"""The command lines: `resnet-classify` (`classify`, its photo-library options in `library`) and
`resnet-train` (`train`)."""
