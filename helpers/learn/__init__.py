"""What a learner sees and does in the notebooks: widgets, tables, plots, checks, exercises,
prerequisites, the plan and the cost estimate, the order page."""
