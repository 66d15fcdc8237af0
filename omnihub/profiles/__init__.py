"""Customer profiles: the shop's orders and attributes, tags derived by rules, and the
suggestions an agent sees beside a conversation."""
