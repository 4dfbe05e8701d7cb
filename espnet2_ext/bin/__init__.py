"""Entry points: ``python -m espnet2_ext.bin.<task>_{train,inference}``.

Each takes exactly the arguments of the stock ``espnet2.bin`` program of the same name, so
stock configs keep working; the project's classes are registered first.
"""
