"""Where marketers' files live: rule files and MJML templates, plus the brand facts every email needs."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from tailor.rules.check import EMAIL_RULES_FILE, SEGMENTS_FILE


class MarketingContent(ConfigurableResource):
    """Rule files (``TAILOR_RULES_DIR``) and templates (``TAILOR_TEMPLATES_DIR``), read fresh on every run.

    Every field comes from an environment variable (resources/__init__.py); defaults live in tailor/config.py.
    """

    rules_dir: str
    templates_dir: str
    company_name: str
    company_address: str
    unsubscribe_base_url: str
    preferences_base_url: str
    shop_url: str

    @property
    def segments_file(self) -> Path:
        return Path(self.rules_dir) / SEGMENTS_FILE

    @property
    def email_rules_file(self) -> Path:
        return Path(self.rules_dir) / EMAIL_RULES_FILE

    @property
    def templates_path(self) -> Path:
        return Path(self.templates_dir)
