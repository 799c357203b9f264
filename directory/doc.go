// Package directory owns the people and structures a tenant routes work to: tenants and their
// settings, users and their roles, statuses and channels, teams, queues and their members, and
// API keys. It answers the questions routing asks (who are a queue's effective members, is a
// user eligible for a channel now, how much capacity do they have) and keeps its own PostgreSQL
// store. It must not import gateway, numbers, routing, deflection, reporting or cmd.
package directory
