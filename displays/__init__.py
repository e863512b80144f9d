"""What shows calls to people: hall TV and window-screen views, the evaluation pad page,
and the LED strip text layout."""
