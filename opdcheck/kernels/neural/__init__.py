"""Neural policies in JAX for §4 and Algorithm 3 (imported lazily: ``import opdcheck`` never imports JAX).

Small files, each doing one thing:

* :mod:`.model` -- a tiny causal transformer LM (pure JAX, float32), its log-probabilities and sampler;
* :mod:`.language` -- the seeded synthetic language, the reward and cost of a text, MLE pretraining;
* :mod:`.ppo` -- one PPO-Lagrangian iteration (PPO-clip primal with a KL penalty to the reference);
* :mod:`.natural_gradient` -- exact expectations over an enumerable response space, Fisher-vector
  products, ``F^+ grad L`` by conjugate gradient, and Algorithm 3 (eqs. (8)-(11));
* :mod:`.study` -- the seeded runs ``ctx.map`` distributes (``run_neural_seed``, ``run_alg3_neural``).
"""
