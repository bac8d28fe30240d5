"""Teaching ResNet50 new classes from a folder of class folders (`training.train`)."""
