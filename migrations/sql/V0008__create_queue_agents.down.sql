DROP TABLE queue_agents;
