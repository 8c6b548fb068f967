"""``odebench training-dynamics``: what training does to the solve (issue 34).

2-D continuous normalizing flows trained with no regulariser, RNODE, STEER and a loose fixed
grid; per-iteration NFE-F, NFE-B, steps, loss and time; each trained flow re-solved at test
time with finer and looser solvers. ``train`` (one arm), ``evaluate`` (test-time re-solves and
the Hutchinson noise diagnostic), ``run`` (the folder), ``figures``, ``weights`` (the
committed CNF problem's weights).
"""
