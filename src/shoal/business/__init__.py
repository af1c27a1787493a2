"""The business directory (the CMDB of R2): which businesses exist and who maintains them."""
