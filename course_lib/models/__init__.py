"""Neural models: VAE (chapter 2), beta-VAE (3), recurrent attention (4) and SCAN (5)."""
