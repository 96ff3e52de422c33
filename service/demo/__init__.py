"""Demo and benchmark datasets: the Zhucheng demo city and the national-scale synthetic set."""
