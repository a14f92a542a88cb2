"""Faithfulness evaluation (SPEC section 4): AOPC, log-odds and sufficiency of every explanation method,
with bootstrap confidence intervals and Mask-LRP head-mask ablations, run through the runtime alone."""
