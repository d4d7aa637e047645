"""Shipping modes (发货模式): the spot share and the bulk switch plan."""
