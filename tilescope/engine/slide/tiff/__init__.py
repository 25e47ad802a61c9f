"""Direct reading of TIFF-family files: page layout, vendor metadata and chunk decoding."""
