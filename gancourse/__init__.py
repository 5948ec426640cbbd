"""gancourse: the tested package behind a course on Generative Adversarial Networks.

Each module holds one concept of the course and names the lectures that use it; open the file a
lecture names and read it top to bottom. See the README for the lecture map.
"""

__version__ = "0.1.0"
