"""Translation at the border: ib_async objects in, our contract messages out (pure functions).

Vendor strings and codes become our enums here, through tables, once. Nothing from
ib_async crosses into the messages these functions return.
"""
