"""The tags Tailor puts on runs, so the UI shows why a run happened and as of when it computed."""

#: The moment every as-of asset of the run computes for (ISO-8601; see assets/as_of.py).
AS_OF_TAG = "tailor/as_of"
#: What started the run: "tailor demo", "landing_sensor", ...
TRIGGER_TAG = "tailor/trigger"
#: The landing source whose new files a refresh run ingests.
SOURCE_TAG = "tailor/source"
