"""Studies: a matrix of base models × datasets × schedules, each trained, swept and compared from one file.

``rsft study plan STUDY.yaml`` says what a study will cost before anything runs; ``rsft study STUDY.yaml`` runs it
(train → sweep → analyse → report), skipping every stage whose outputs exist with the same identity; ``rsft demo``
runs a miniature study on a CPU.
"""
