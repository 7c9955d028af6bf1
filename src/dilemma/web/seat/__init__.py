"""Human seats: the web seat app and the views and input parsing it shares with `dilemma play`."""
