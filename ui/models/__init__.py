"""Each page's model: the computations behind one page (no widgets), unit-tested on their own."""
