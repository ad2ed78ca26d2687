"""The producer service: captures changes of the SQLite `Customer` table and publishes them."""
