"""Names of the gait generator's scenarios, for `simulate --scenario` and its help text.

A module of its own with no imports, so `fescontrol --help` stays fast; the generator lives in
`fescontrol_hil.gait` (which fescontrol starts, never imports) and a unit test keeps both equal.
"""

SCENARIOS = ("healthy", "hemiparetic", "light", "heavy", "preload", "shuffling", "pivot-turns",
             "stop-and-go", "mid-stride", "stairs")
