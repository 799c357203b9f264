// Package directory owns the people and structures a tenant routes work to: tenants and their
// settings, users and their roles, statuses and channels, teams, queues and their members, and
// API keys. It answers the questions routing asks (who are a queue's effective members, is a
// user eligible for a channel now, how much capacity do they have) and keeps its own PostgreSQL
// store. It must not import gateway, numbers, routing, deflection, reporting or cmd (numbers
// builds on it: assignments lock queues with LockQueue and create personal queues with
// EnsurePersonalQueue).
//
// # Who may change what
//
// Every role reads the whole directory of its tenant: users, teams, queues, channels and the
// settings. Changes take the caller's Principal and are checked inside their transaction:
//
//   - Admins change everything in their tenant. Only admins change the settings, create and
//     delete teams, issue keys for other users, and make someone an admin.
//   - Supervisors manage the users of their own teams (users who share one of the supervisor's
//     teams) except admins: create them (in their own teams only), change them, deactivate them,
//     set their channels and status. They may set the role agent or supervisor but never admin,
//     and may add or remove only teams they are in. They rename their own teams and add or
//     remove non-admin members there. They manage the queues one of their teams is a member of
//     (rename, move, delete, set members), adding or removing only their own teams and the users
//     of their teams, and may create queues whose member teams are theirs.
//   - Agents change nothing but their own status.
//
// A change outside the caller's reach answers 403; another tenant's id answers 404, as if it did
// not exist.
//
// # Users
//
// A user belongs to at least one team (422 team_required), and one of them is primary. When the
// primary team is removed (from the user, or deleted), another of the user's teams becomes
// primary, the first by name. Removing a user's last team answers 409 last_team. DELETE
// deactivates: the user's keys stop authenticating, they leave every routing answer, their email
// and extension can be reused, and their rows stay for reports. The last active admin cannot be
// deactivated or demoted (409 last_admin). Personal numbers are stored in E.164, read in the
// tenant's default region.
//
// # Status
//
// People set available, away or offline (the user itself, an admin, or a supervisor of its
// teams); missed_chat and unresponsive are set by the thresholds through SetStatus or
// SetStatusTx, and cleared by setting available, which also resets both streak counters. Every
// change is a row of user_status_changes (status, reason, who, when) for reports; setting the
// current status writes nothing.
//
// # Channels and capacity
//
// sms and voice are on for a user unless turned off; the other channels are off until turned
// on. A channel that is off for a user gives them no work on it, whatever their teams have.
// Capacity is the user's override (1 to 50) when set, else the tenant default for the channel;
// CapacitySource says which.
//
// # Queues
//
// Queues form a tree per tenant through parent_id: a parent is a queue of the same tenant and
// kind, never personal, and never the queue itself or a descendant (422 queue_cycle). Only leaf
// queues take numbers (Queue.Leaf, IsLeafQueue, LockQueue). Members are users and teams; a member
// team's users are effective members as the team is at the moment of asking. A personal queue
// (kind sms, its agent as the one member) is created by EnsurePersonalQueue the first time it is
// needed and is read-only through the API (409 personal_queue). A queue's kind never changes.
package directory
