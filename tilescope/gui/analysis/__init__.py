"""Cell analysis in the GUI: measure objects, train and apply object classifiers, summaries."""
