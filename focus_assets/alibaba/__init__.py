"""The Alibaba Cloud domain: its partitions, assets and (next) sensor and checks, side by side."""
