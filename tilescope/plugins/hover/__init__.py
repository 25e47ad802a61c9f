"""`pixel-instances`: per-pixel maps (nucleus probability + HV) turned into instances."""
