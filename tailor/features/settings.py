"""Every tunable constant of the customer features, in one place: windows (counted back from ``as_of``), weights,
the browsing-intent half-life, the discount tolerance, the bounds of the empirical-Bayes priors and the default
send hour. What each one changes: docs/features.md.
"""

from __future__ import annotations

VIEW_WINDOW_DAYS = 30  # product_views_30d, viewed_not_bought, sessions_30d
CART_WINDOW_DAYS = 7
CART_GRACE_HOURS = 1  # default N of "cart with no purchase after N hours" (a parameter of the SQL)
VIEWED_NOT_BOUGHT_MAX = 10
RFM_BUCKETS = 5  # quintiles

AFFINITY_TOP_N = 3
AFFINITY_VIEW_WINDOW_DAYS = 90
AFFINITY_SPEND_WEIGHT = 0.7  # spend says more about taste than a view...
AFFINITY_VIEW_WEIGHT = 0.3  # ...but views are the only signal for non-buyers and fresher for buyers
AFFINITY_SHARE_DECIMALS = 4

DISCOUNT_TOLERANCE = 0.01  # paid < 99 % of list price = discounted (rounding cents and FX noise are not discounts)

#: Browsing intent: weight of one event by type, halved every INTENT_HALF_LIFE_HOURS of age.
INTENT_WEIGHTS: dict[str, float] = {"page_view": 1.0, "product_view": 2.0, "add_to_cart": 5.0, "checkout_started": 8.0}
INTENT_HALF_LIFE_HOURS = 72.0
INTENT_WINDOW_DAYS = 30  # 10 half-lives: older events would add < 0.1 % of their weight

#: Empirical-Bayes Beta priors: bounds on the prior strength alpha + beta (pseudo-observations).
PRIOR_STRENGTH_MIN = 2.0  # never weaker than Laplace's Beta(1, 1)
PRIOR_STRENGTH_MAX = 1000.0  # no measurable spread between customers: everyone gets (almost) the mean

DEFAULT_SEND_HOUR = 10  # local hour when neither the customer nor anybody else has opened or clicked
SEND_HOUR_EVENTS = ("open", "click")
