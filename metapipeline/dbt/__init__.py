"""dbt: manifest loading and validation, the relation index, run history."""
