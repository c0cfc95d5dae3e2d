"""What a run and a study are: run configs, study files, their analysis section, size estimates and the reproduce plan."""
