"""Video: decoding frames at timestamps, crop boxes, and the nets' frame preprocessing."""
