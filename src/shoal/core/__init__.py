"""Cross-cutting pieces every layer uses: configuration, errors, i18n, security."""
