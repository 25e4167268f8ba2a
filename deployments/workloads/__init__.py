"""What every product (endpoints, batch jobs, routes) shares: errors, spend, sizing."""
