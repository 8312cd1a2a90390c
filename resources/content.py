"""Where marketers' files live: rule files and MJML templates, plus the brand facts every email needs."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource


class MarketingContent(ConfigurableResource):
    """Rule files (``TAILOR_RULES_DIR``) and templates (``TAILOR_TEMPLATES_DIR``), read fresh on every run."""

    rules_dir: str = "rules"
    templates_dir: str = "email_templates"
    company_name: str = "Tailor Shop"
    company_address: str = "Tailor Shop, 1 Example Street, 10115 Berlin, Germany"
    unsubscribe_base_url: str = "https://shop.example/unsubscribe"
    preferences_base_url: str = "https://shop.example/preferences"
    shop_url: str = "https://shop.example"

    @property
    def segments_file(self) -> Path:
        return Path(self.rules_dir) / "segments.yaml"

    @property
    def email_rules_file(self) -> Path:
        return Path(self.rules_dir) / "email_rules.yaml"

    @property
    def templates_path(self) -> Path:
        return Path(self.templates_dir)
