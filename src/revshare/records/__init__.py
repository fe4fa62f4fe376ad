"""The usage record and its log-leaf projection: the vocabulary every other room shares. Pure."""
