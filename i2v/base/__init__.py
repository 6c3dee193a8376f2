"""What every layer of the studio reads: the generation settings (defined once), the config, the errors and
notes in English and Chinese, the page's texts, and the cancel token."""
