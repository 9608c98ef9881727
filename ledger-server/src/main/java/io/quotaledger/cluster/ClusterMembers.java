package io.quotaledger.cluster;

import java.util.ArrayList;
import java.util.List;

/**
 * The cluster's members as an operator writes them, {@code host:port,host:port,host:port} (member id = position,
 * from 0), and the endpoints Aeron Cluster derives from them: each member uses five consecutive UDP ports from its
 * base port.
 *
 * <pre>
 * port      ingress      (requests from the members' gateway sides)
 * port + 1  consensus    (votes, appends, commit positions between members)
 * port + 2  log          (the replicated log, leader to followers)
 * port + 3  catch-up     (a member replaying the log it missed)
 * port + 4  archive      (archive control: replication between members)
 * </pre>
 */
public final class ClusterMembers
{
    public static final int PORTS_PER_MEMBER = 5;
    static final int INGRESS = 0;
    static final int CONSENSUS = 1;
    static final int LOG = 2;
    static final int CATCHUP = 3;
    static final int ARCHIVE = 4;

    /**
     * One member: where it listens.
     */
    public record Member(int id, String host, int basePort)
    {
        public String endpoint(final int offset)
        {
            return host + ":" + (basePort + offset);
        }
    }

    private final List<Member> members;

    private ClusterMembers(final List<Member> members)
    {
        this.members = List.copyOf(members);
    }

    /**
     * @param spec {@code host:port,...}, one entry per member, at least one.
     * @throws IllegalArgumentException naming what is wrong.
     */
    public static ClusterMembers parse(final String spec)
    {
        if (spec == null || spec.isBlank())
        {
            throw new IllegalArgumentException("--cluster-members is empty: give host:port for every member");
        }
        final List<Member> members = new ArrayList<>();
        for (final String entry : spec.split(","))
        {
            final String trimmed = entry.trim();
            final int colon = trimmed.lastIndexOf(':');
            if (colon <= 0 || colon == trimmed.length() - 1)
            {
                throw new IllegalArgumentException("cluster member '" + trimmed + "' is not host:port");
            }
            final int port;
            try
            {
                port = Integer.parseInt(trimmed.substring(colon + 1));
            }
            catch (final NumberFormatException ex)
            {
                throw new IllegalArgumentException("cluster member '" + trimmed + "': port is not a number");
            }
            if (port < 1 || port + PORTS_PER_MEMBER - 1 > 65_535)
            {
                throw new IllegalArgumentException("cluster member '" + trimmed + "': the port must leave room for " +
                    PORTS_PER_MEMBER + " ports (1-" + (65_536 - PORTS_PER_MEMBER) + ")");
            }
            final Member member = new Member(members.size(), trimmed.substring(0, colon), port);
            for (final Member other : members)
            {
                if (other.host().equals(member.host()) && Math.abs(other.basePort() - port) < PORTS_PER_MEMBER)
                {
                    throw new IllegalArgumentException("cluster members " + other.endpoint(0) + " and " + trimmed +
                        " share ports: each member uses " + PORTS_PER_MEMBER + " ports from its own");
                }
            }
            members.add(member);
        }
        return new ClusterMembers(members);
    }

    public int size()
    {
        return members.size();
    }

    public Member member(final int id)
    {
        if (id < 0 || id >= members.size())
        {
            throw new IllegalArgumentException("--cluster-member-id " + id + " is not one of the " + members.size() +
                " members (0-" + (members.size() - 1) + ")");
        }
        return members.get(id);
    }

    public List<Member> members()
    {
        return members;
    }

    /**
     * @return the members in Aeron Cluster's form: {@code id,ingress,consensus,log,catchup,archive|...}.
     */
    String consensusMembers()
    {
        final StringBuilder sb = new StringBuilder();
        for (final Member m : members)
        {
            sb.append(m.id())
                .append(',').append(m.endpoint(INGRESS))
                .append(',').append(m.endpoint(CONSENSUS))
                .append(',').append(m.endpoint(LOG))
                .append(',').append(m.endpoint(CATCHUP))
                .append(',').append(m.endpoint(ARCHIVE))
                .append('|');
        }
        return sb.toString();
    }

    /**
     * @return the members' ingress endpoints as a cluster client wants them: {@code id=host:port,...}.
     */
    String ingressEndpoints()
    {
        final StringBuilder sb = new StringBuilder();
        for (final Member m : members)
        {
            if (sb.length() > 0)
            {
                sb.append(',');
            }
            sb.append(m.id()).append('=').append(m.endpoint(INGRESS));
        }
        return sb.toString();
    }

    public String toString()
    {
        final StringBuilder sb = new StringBuilder();
        for (final Member m : members)
        {
            if (sb.length() > 0)
            {
                sb.append(',');
            }
            sb.append(m.endpoint(0));
        }
        return sb.toString();
    }
}
