"""Report figures (``plots``) and the Markdown/HTML renderer (``render``)."""
