"""Many images: a Ray cluster run (`cluster`) and the resumable record file (`record_file`)."""
