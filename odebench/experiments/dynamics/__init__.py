"""``odebench training-dynamics``: what training does to the solve (issue 34).

Two models, one pipeline: a 2-D continuous normalizing flow and the spiral latent ODE, each
trained with no regulariser, RNODE, STEER and a loose fixed grid; per-iteration NFE-F, NFE-B,
steps, loss and time; each trained model re-solved at test time with finer and looser solvers.
``spec`` (the models, arms and one arm's settings), ``models`` (the registry of model adaptors:
``cnf_task``, ``latent_task``), ``step`` (what an adaptor's loss returns), ``train`` (the shared
loop, one arm), ``evaluate`` (the test-time solvers, the CNF's re-solves and its Hutchinson
noise diagnostic), ``run`` (the folder, resumable), ``figures``, ``weights`` (the committed CNF
problem's weights).
"""
