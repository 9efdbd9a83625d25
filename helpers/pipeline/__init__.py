"""The order pipeline itself: the catalog (every resource, alarm, metric and step, declared once)
and one module per step of the series (``step1`` … ``step6``), built from the ``aws`` layer."""
