"""Images in, prepared batches out: reading any image safely (`images`), preprocessing
(`preprocess`), and the two decoders the engine may hold (`PillowDecoder`, `GpuJpegDecoder`)."""
