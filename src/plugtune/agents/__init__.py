"""Episodes in which a model calls tools: the loop shared by agentic GRPO and by
``predict``/``chat`` with tools, so a trained agent is used the way it was trained.

- :mod:`.toolbox`: the tools of an episode (an environment's methods, plain functions),
  their JSON schemas, and calling one without letting it crash or hang the run;
- :mod:`.episode`: one episode driven by the run's template — render, read the reply's
  calls back, answer them with tool messages, stop at an answer or ``max_tool_calls``;
- :mod:`.environments`: which environment each record gets, built through the session.
"""
