package io.quotaledger.cluster;

import io.quotaledger.server.ServerMetrics;

import java.util.Locale;

/**
 * A cluster member in {@code /metrics} and {@code /health}: its role, the leader it knows, the commit position, the
 * election state and count, and how far its ledger and journal have got. {@code ledger cluster status} reads the
 * health of every member and puts them side by side.
 */
public final class ClusterMetrics
{
    private ClusterMetrics()
    {
    }

    public static void register(final ServerMetrics metrics, final ClusterRuntime member)
    {
        final ClusterNode node = member.node();
        metrics.gauge("ledger_cluster_member_id", "This member's id", () -> node.context().memberId());
        metrics.gauge("ledger_cluster_role", "This member's role: 0 follower, 1 candidate, 2 leader",
            () -> roleCode(node.status().role));
        metrics.gauge("ledger_cluster_leader_member_id", "The leader this member's gateway side knows, -1 none",
            member::leaderMemberId);
        metrics.gauge("ledger_cluster_commit_position", "Log position committed by a majority, as this member knows",
            () -> node.status().commitPosition);
        metrics.gauge("ledger_cluster_election_state", "Election state code (17: closed, no election running)",
            () -> node.status().electionState);
        metrics.gauge("ledger_cluster_elections", "Elections this member has taken part in since it started",
            () -> node.status().elections);
        metrics.gauge("ledger_cluster_snapshots", "Snapshots this member has taken since it started",
            () -> node.status().snapshots);
        metrics.gauge("ledger_cluster_applied_sequence", "Sequence of the last outcome this member applied",
            () -> node.status().appliedSequence);
    }

    /**
     * @return the member's status as a JSON object.
     */
    public static String json(final ClusterRuntime member)
    {
        final ClusterNode.Status status = member.node().status();
        return String.format(Locale.ROOT,
            "{\"memberId\":%d,\"members\":\"%s\",\"role\":\"%s\",\"leaderMemberId\":%d,\"commitPosition\":%d," +
            "\"electionState\":\"%s\",\"elections\":%d,\"snapshots\":%d,\"appliedSequence\":%d," +
            "\"journaledSequence\":%d,\"snapshotSequence\":%d,\"snapshotChecksum\":\"%016x\",\"snapshotCrc\":\"%08x\"}",
            status.memberId, member.node().context().members(), status.role, member.leaderMemberId(),
            status.commitPosition, status.electionStateName(), status.elections, status.snapshots,
            status.appliedSequence, status.journaledSequence, status.snapshotSequence, status.snapshotChecksum,
            status.snapshotCrc);
    }

    private static int roleCode(final String role)
    {
        return switch (role)
        {
            case "follower" -> 0;
            case "candidate" -> 1;
            case "leader" -> 2;
            default -> -1;
        };
    }
}
