//! What a new service file changes, and writing it into the store (deploy, rollback, orders).
