"""What metapipeline does to the outside world: Mode archive/delete, pull requests, Slack."""
