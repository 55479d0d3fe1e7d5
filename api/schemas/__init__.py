"""Response models. Built from domain dataclasses with ``model_validate(obj)`` (from_attributes)."""
