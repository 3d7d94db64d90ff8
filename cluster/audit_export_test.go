package cluster

// ForgetAuditForTest makes n a node that does not advertise the audit
// log through the version gate, as a binary before it; call before Start.
func ForgetAuditForTest(n *Node) {
	delete(n.fsm.builtins, auditType)
	delete(n.fsm.builtins, auditPruneType)
}
