"""I2V Studio: image-to-video with I2VGen-XL, with control of motion."""

__version__ = "0.1.0"
