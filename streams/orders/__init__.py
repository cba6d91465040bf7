"""Orders: the order state machine and the allocation planner (pure rules); agents to come."""
